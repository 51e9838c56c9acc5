"""The WebSocket at /ws: live events, as described by asyncapi/asyncapi.yaml."""
