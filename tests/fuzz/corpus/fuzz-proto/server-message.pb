J)
general*€¨ð”¬3"alice*hi2c-17:text