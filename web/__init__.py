"""HTML pages (Jinja2 + htmx). Routes call services; templates never compute money."""
