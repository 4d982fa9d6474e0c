
alicecorrect horse