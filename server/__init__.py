"""Hearth's server: Starlette + python-socketio relay of end-to-end encrypted group messages."""
