import os

os.environ.setdefault("ITNET_TEST", "1")
