"	
general