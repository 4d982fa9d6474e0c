2d
generalhi"c-1