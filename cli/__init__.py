"""The click commands; installed as the ``shapealg_cli`` package. Each command composes the library and prints."""
