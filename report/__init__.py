"""Report generator: result records -> figures -> report.md / .html / .pdf and notebooks.

Never imports torch or transformers (see tests/test_report_imports.py).
"""
