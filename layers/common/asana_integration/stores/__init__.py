"""Persistence only: Secrets Manager (credentials), DynamoDB (connections, OAuth state, verifications, the
organizations registry) and KMS field encryption. Nothing here talks to Asana."""
