"""The JSON API (FastAPI) under /api/v1. Routes call services; they never build postings."""
