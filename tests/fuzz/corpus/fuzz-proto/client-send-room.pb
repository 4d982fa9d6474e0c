2
generalhi"c-17