"""The records service: customers, contacts, interactions, objections, tasks, pipelines and
opportunities, custom fields, field history, the records audit log and the tenant's records
settings. See README.md for the design every entity follows."""
