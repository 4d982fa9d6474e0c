Z
general