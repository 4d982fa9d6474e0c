'
general*alicebob *bob2room:t