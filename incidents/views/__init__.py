"""Pages of incidents: runbooks, the incident log and each incident, kill-switch tokens and
webhooks. Thin views: a selector fetches what the person may see (404 otherwise), a rule
decides what they may do (403), a service writes and records the timeline."""
