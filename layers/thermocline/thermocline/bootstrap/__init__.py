"""Deploy-time warehouse setup: database roles and grants (:mod:`.sql`, pure) and the usage limit."""
