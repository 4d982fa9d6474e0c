b
hello worldgeneral