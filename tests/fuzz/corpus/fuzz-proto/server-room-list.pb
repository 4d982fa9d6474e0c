27
!
general
all things* *room0'

dm:alice:bob*dm