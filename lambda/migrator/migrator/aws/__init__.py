"""The AWS side: credentials from Secrets Manager, snapshots through the RDS API, and the
custom-resource handlers. Thin layers over the engine; boto3 clients are passed in."""
