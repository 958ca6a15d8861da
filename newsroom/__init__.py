"""newsroom."""
