"""Pure text algorithms for the tip line: normalise, fingerprint, encode, index, match.

No I/O and no imports from the rest of the project: everything here is a function of its
inputs, so it is tested and benchmarked on its own.
"""

from matching.encoder import Encoder, HashingEncoder, USEEncoder, load_encoder
from matching.fingerprint import content_hash, hamming, simhash
from matching.index import LexicalIndex, VectorIndex
from matching.language import UNDETERMINED, detect_language
from matching.matcher import (
    CLAIM_THRESHOLDS,
    FACT_CHECK_THRESHOLDS,
    FEATURE_NAMES,
    Candidate,
    Decision,
    Document,
    Features,
    Matcher,
    Thresholds,
    document_text,
    query_text,
)
from matching.normalize import (
    canonical_url,
    extract_links,
    normalize_text,
    strip_invisible,
    tokenize,
)

__all__ = [
    "CLAIM_THRESHOLDS",
    "FACT_CHECK_THRESHOLDS",
    "FEATURE_NAMES",
    "UNDETERMINED",
    "Candidate",
    "Decision",
    "Document",
    "Encoder",
    "Features",
    "HashingEncoder",
    "LexicalIndex",
    "Matcher",
    "Thresholds",
    "USEEncoder",
    "VectorIndex",
    "canonical_url",
    "content_hash",
    "detect_language",
    "document_text",
    "extract_links",
    "hamming",
    "load_encoder",
    "normalize_text",
    "query_text",
    "simhash",
    "strip_invisible",
    "tokenize",
]
