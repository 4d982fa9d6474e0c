*	
general