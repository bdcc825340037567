"""The PySide6 desktop client and tray: watches and steers a fairscribe daemon through the client library."""
