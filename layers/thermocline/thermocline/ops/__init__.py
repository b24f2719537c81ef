"""Operating a deployment: ``thermocline status`` (pipeline health) and ``thermocline cost`` (monthly cost)."""
