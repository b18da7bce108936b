#!/bin/sh
echo "placeholder: being written"
