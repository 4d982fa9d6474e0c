
alicecorrect horse