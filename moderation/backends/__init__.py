"""The built-in backends; each is declared as an entry point like any third-party one."""
