"""CDK code only: the per-environment configuration, the constructs, and the stack that composes them."""
