"
general