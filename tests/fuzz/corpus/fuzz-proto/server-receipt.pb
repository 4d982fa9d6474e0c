j
generalbob*