2
genÿalhi