"""The Socket.IO side of the server: connection auth, event schemas and handlers."""
