R
bob