
aliceÃ