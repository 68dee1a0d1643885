"""Templates: the YAML files in templates/ as validated ``TemplateSpec`` objects."""
