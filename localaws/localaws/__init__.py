"""The project's local AWS: moto server plus the behaviours real AWS has and moto lacks."""
