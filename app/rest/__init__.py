"""The REST transport: Connexion routes openapi/openapi.yaml to these modules."""
