"""regionopt — where should a region build its next hospitals, schools and cultural venues?"""

__version__ = "0.1.0"
