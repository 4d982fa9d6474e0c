B
general È