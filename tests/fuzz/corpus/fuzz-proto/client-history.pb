
B
generald 2