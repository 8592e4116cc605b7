"""Test support shared across test folders: the RDS-like TLS server, AWS call recording, IAM policy evaluation."""
