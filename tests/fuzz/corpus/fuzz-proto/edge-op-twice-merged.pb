2	
general2	hi"c-1