"""Handlers of the small Python Lambda functions, one module each. The templates embed
each file's text inline (templates/parts/functions.py), and tests run them against
botocore-stubbed clients."""
