// EntropyCoding module: work in progress
