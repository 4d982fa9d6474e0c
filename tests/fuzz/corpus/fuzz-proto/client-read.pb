R
general*