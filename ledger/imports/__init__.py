"""Importers: files in, checked drafts or rows out, every problem named by row, column and value."""
