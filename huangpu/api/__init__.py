"""The HTTP API: routers per role, bearer-token auth, one error shape."""
