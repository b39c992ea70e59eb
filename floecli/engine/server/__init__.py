"""The engine as a network service: REST API, websocket, auth, TLS listeners and the tester."""
