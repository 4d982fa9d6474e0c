N
alicetoke-1"
system*system"!
general
all things* *room0'(2n1