"""Identity's domain logic: plain async functions over a ServiceDatabase, called by the API,
the NATS responder, background jobs and the CLI. They validate everything before they write,
emit an event for every change that affects access, and audit every security-relevant action.
"""
